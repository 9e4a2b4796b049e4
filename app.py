"""The web app: `python app.py` serves the page at / and `POST /api/ask` on 127.0.0.1:7860.

QA_DATA, QA_INDEX, QA_HOST and QA_PORT override the data folder, index folder, address and port; QA_STORE
keeps the index in Milvus (README, "Milvus");
QA_AUTH="user:password" asks for a login (page and JSON endpoint) before exposing it on a network.
"""

import os

import uvicorn

from qa.service import Service
from qa.ui import build_demo
from qa.web import auth_from_env, create_app

service = Service(os.environ.get("QA_DATA", "data"), os.environ.get("QA_INDEX", "index"))
demo = build_demo(service)
app = create_app(service, demo=demo, auth=auth_from_env())

if __name__ == "__main__":
    service.warm_up()  # build or load the index, and load the model, before the first visitor
    uvicorn.run(app, host=os.environ.get("QA_HOST", "127.0.0.1"), port=int(os.environ.get("QA_PORT", "7860")))
