def run_pipeline(*a, **k):
    raise NotImplementedError
