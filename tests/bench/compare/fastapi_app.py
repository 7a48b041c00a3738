"""The FastAPI peer: the same no-op as a JSON endpoint, served by uvicorn (uvloop, httptools).

python -m uvicorn fastapi_app:app --app-dir tests/bench/compare --port P --workers W
"""

from fastapi import FastAPI

app = FastAPI()


@app.post("/noop")
async def noop(args: dict) -> dict:
    """Returns the JSON body unchanged."""
    return args
