"""The framework's ceiling for benchmarks/load.py: a minimal app on the same stack as `icsgeo serve`
(FastAPI + uvicorn, same options) that answers ``GET /postcodes/{postcode}`` with a constant answer
object of the same size (the bytes in ``ICSGEO_CEILING_ANSWER``, a file), and ``/health``.

    ICSGEO_CEILING_ANSWER=answer.json python -m uvicorn _ceiling_app:app --no-access-log
"""

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

ANSWER = Path(os.environ["ICSGEO_CEILING_ANSWER"]).read_bytes()
app = FastAPI()


@app.get("/postcodes/{postcode:path}")
async def get_postcode(postcode: str):
    return Response(ANSWER, media_type="application/json")


@app.get("/health")
def get_health():
    return {"status": "ok"}
