"""Torch runs here, in a child process, never inside QGIS.

`client` (QGIS side, standard library only) starts `python -m mmlgnet_qgis.worker` in the
interpreter `environment` picks, sends the app layer's requests as JSON lines and streams
progress, log lines and the result back; `server` is the process's side; `installer` creates
and checks the managed environment. Importing this package imports neither torch nor qgis.
"""
