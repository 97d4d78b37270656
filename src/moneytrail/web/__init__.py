"""The task force's web app (``moneytrail serve``): :mod:`moneytrail.web.app` (pages),
:mod:`moneytrail.web.logins` (local sign-in), :mod:`moneytrail.web.oidc` (agency single sign-on),
:mod:`moneytrail.web.sessions`, :mod:`moneytrail.web.jobs`, :mod:`moneytrail.web.owner` (the
server owns the workspace) and :mod:`moneytrail.web.server` (uvicorn, TLS). See docs/deploy.md."""
