"""The web app: `python app.py` serves the page at / and `POST /api/ask` on 127.0.0.1:7860.

QA_DATA, QA_INDEX, QA_HOST and QA_PORT override the data folder, index folder, address and port; QA_STORE
keeps the index in Milvus (README, "Milvus"); QA_AUTH="user:password" asks for a login (page and JSON
endpoint) before exposing it on a network. Every QA_* setting is in qa/core/settings.py.
"""

import sys

from qa.core.errors import QAError
from qa.core.logs import configure_logging
from qa.service import Service
from qa.core.settings import Settings, set_native_defaults
from qa.surfaces.web import serve


def main() -> None:
    """Read the settings and serve until stopped; the index is built or loaded meanwhile, the page says how far."""
    set_native_defaults()
    configure_logging()
    try:
        settings = Settings.from_env()
        service = Service(settings.data, settings.index, settings=settings)
        service.preflight()  # a missing data folder stops it here, in one line; the build itself runs once serving
    except QAError as e:
        sys.exit(f"error: {e}")
    serve(service, settings.host, settings.port, auth=settings.auth)


if __name__ == "__main__":
    main()
