"""The JSON-lines protocol: every message round-trips; errors come back as the classes front ends catch."""
import errno
import math

import pytest

from mmlgnet_qgis.core.errors import Cancelled, InputError, ModelFileError, WorkerError
from mmlgnet_qgis.worker import protocol


def test_every_message_round_trips_as_one_line():
    messages = [protocol.request(1, {"kind": "encode", "prompts": "{}"}), {"type": "cancel", "id": 1},
                {"type": "quit"}, {"type": "ready", "pid": 5},
                protocol.progress(2, 3.0, 10.0, {"loss": 0.5, "oa": 0.9}), protocol.log(2, "line\nwith newline"),
                protocol.warning(2, "careful"), protocol.result(2, {"names": ["a"], "embeddings": [[0.1, 0.2]]})]
    for m in messages:
        line = protocol.encode(m)
        assert line.endswith("\n") and line.count("\n") == 1
        assert protocol.decode(line) == m
        assert protocol.decode(line.encode("utf-8")) == m


def test_non_finite_metrics_become_null():
    line = protocol.encode(protocol.progress(1, 1, 2, {"loss": math.nan, "lr": math.inf, "oa": 0.5}))
    assert protocol.decode(line)["metrics"] == {"loss": None, "lr": None, "oa": 0.5}


def test_bad_lines_are_protocol_errors():
    for line in ["not json", "[1, 2]", '{"type": "bogus"}', '{"no": "type"}']:
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(line)
    with pytest.raises(protocol.ProtocolError):
        protocol.encode({"type": "bogus"})
    assert issubclass(protocol.ProtocolError, WorkerError)


def _raised(exc):
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001
        import traceback
        return protocol.decode(protocol.encode(protocol.error(7, e, traceback.format_exc())))


@pytest.mark.parametrize("exc", [InputError("band 3 of hsi.tif"), ModelFileError("truncated"), Cancelled()])
def test_mmlgnet_errors_come_back_as_themselves_without_traceback(exc):
    message = _raised(exc)
    assert message["traceback"] is None and message["error"] == type(exc).__name__
    back = protocol.exception_from(message)
    assert type(back) is type(exc) and str(back) == str(exc)


def test_os_errors_keep_errno_and_file_name():
    back = protocol.exception_from(_raised(FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/hsi.tif")))
    assert isinstance(back, FileNotFoundError) and back.errno == errno.ENOENT and back.filename == "/x/hsi.tif"
    back = protocol.exception_from(_raised(PermissionError("folder is not writable: /ro")))
    assert isinstance(back, PermissionError) and "not writable" in str(back)


def test_bugs_carry_their_traceback_and_come_back_as_worker_errors():
    message = _raised(ZeroDivisionError("division by zero"))
    assert "Traceback" in message["traceback"] and "ZeroDivisionError" in message["traceback"]
    back = protocol.exception_from(message)
    assert isinstance(back, WorkerError) and "ZeroDivisionError: division by zero" in str(back)
