"""The web page: `python app.py` serves it on 127.0.0.1:7860 (QA_DATA, QA_INDEX, QA_HOST, QA_PORT override)."""

import os

from qa.service import Service
from qa.ui import build_demo

service = Service(os.environ.get("QA_DATA", "data"), os.environ.get("QA_INDEX", "index"))
demo = build_demo(service)

if __name__ == "__main__":
    service.open()  # build or load the index before the first visitor
    demo.launch(server_name=os.environ.get("QA_HOST", "127.0.0.1"), server_port=int(os.environ.get("QA_PORT", "7860")))
