"""`python -m mmlgnet_qgis.worker`: the worker process (requests on stdin, JSON lines on stdout)."""
import sys

from .server import main

sys.exit(main(sys.argv[1:]))
