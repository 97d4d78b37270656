def render_report(*a, **k): raise NotImplementedError
