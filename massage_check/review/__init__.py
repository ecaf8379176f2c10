"""Staff review page: a small Flask app over the transcript store (see app.py)."""
