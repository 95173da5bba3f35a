"""Serving: `Predictor.from_run(...)` / `Predictor.from_runs({...})` (several runs, one per request,
equal weights held once; the same decode path as evaluation) and the HTTP server
(`app.create_app(predictor, ServeConfig)`, run by `rawtune serve`; extra `serve`)."""
