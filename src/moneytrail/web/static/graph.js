// The network view: draws /api/graph JSON with cytoscape.js; click a node to add its
// counterparties (each expansion is one more decided, recorded request); double-click opens it.
(function () {
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape === "undefined") { return; }
  var status = document.getElementById("graph-status");
  var fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  var cy = cytoscape({
    container: box,
    minZoom: 0.2,
    maxZoom: 2.5,
    style: [
      { selector: "node", style: { "label": "data(label)", "font-size": 9, "background-color": "#5b87b8",
          "text-wrap": "wrap", "text-max-width": "160px", "text-margin-y": 3, "color": "#1b1f24",
          "width": "mapData(degree, 1, 60, 14, 46)", "height": "mapData(degree, 1, 60, 14, 46)", "text-valign": "bottom" } },
      { selector: "node[?centre]", style: { "background-color": "#c0392b" } },
      { selector: "node[?hub]", style: { "shape": "round-rectangle", "background-color": "#8e8e8e" } },
      { selector: "node[?expanded]", style: { "border-width": 2, "border-color": "#12263f" } },
      { selector: "edge", style: { "curve-style": "bezier", "target-arrow-shape": "triangle", "label": "data(label)",
          "font-size": 8, "width": "mapData(logamt, 0, 8, 1, 8)", "line-color": "#9fb3c8", "target-arrow-color": "#9fb3c8",
          "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.8,
          "text-background-padding": "1px", "color": "#37475a" } }
    ]
  });
  function add(g, from) {
    var added = 0;
    g.nodes.forEach(function (n) {
      if (cy.getElementById(n.id).length) { return; }
      cy.add({ group: "nodes", data: { id: n.id, label: n.owner ? n.id + "\n" + n.owner : n.id, degree: n.degree,
        centre: !!n.centre && !from, hub: !!n.hub } });
      added++;
    });
    g.edges.forEach(function (e) {
      var id = e.source + "\u2192" + e.target;
      if (cy.getElementById(id).length) { return; }
      var amt = Number(e.amount);
      cy.add({ group: "edges", data: { id: id, source: e.source, target: e.target,
        label: fmt.format(amt) + " (" + e.n + ")", logamt: Math.log10(Math.max(amt, 1)) - 1 } });
    });
    return added;
  }
  function layout() {
    cy.layout({ name: "cose", animate: false, randomize: false, nodeRepulsion: 400000, idealEdgeLength: 160,
                nodeOverlap: 40, padding: 40, fit: true }).run();
    if (cy.zoom() > 1.4) { cy.zoom(1.4); cy.center(); }
  }
  function load(url, from) {
    status.textContent = "loading…";
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status === 403 ? "refused" : "error " + r.status); } return r.json(); })
      .then(function (g) {
        var n = add(g, from);
        if (from) { cy.getElementById(from).data("expanded", true); }
        layout();
        status.textContent = cy.nodes().length + " accounts, " + cy.edges().length + " aggregated flows" +
          (from ? " (" + n + " added around " + from + ")" : "");
        box.setAttribute("data-ready", "1");
      })
      .catch(function (e) { status.textContent = "could not load the graph: " + e.message; });
  }
  cy.on("tap", "node", function (ev) {
    var n = ev.target;
    if (n.data("expanded")) { return; }
    load("/api/graph?account=" + encodeURIComponent(n.id()), n.id());
  });
  cy.on("dbltap", "node", function (ev) { window.location.href = "/accounts/" + encodeURIComponent(ev.target.id()); });
  load(box.getAttribute("data-src"), null);
})();
