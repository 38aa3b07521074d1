"""The HTTP server of `python -m src.serve`: the FastAPI app (app.py) and the batcher that runs
the texts of requests arriving together as one batch (batching.py)."""
