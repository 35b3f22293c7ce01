"""``python -m gatesim.site.box --config FILE``: ``gate-daemon`` as the site run starts it.

Exactly ``edge.daemon.main``, except that when the HTTP-MJPEG driver ``edge.camera.stream`` is not
there yet (it is being written alongside), the stopgap :mod:`gatesim.site.streamcam` stands in for
it under that name. Once the real driver exists this module changes nothing.
"""

from __future__ import annotations

import importlib.util
import sys


def main() -> int:
    if importlib.util.find_spec("edge.camera.stream") is None:
        from gatesim.site import streamcam

        sys.modules["edge.camera.stream"] = streamcam
    from edge.daemon import main as daemon_main

    return daemon_main()


if __name__ == "__main__":
    sys.exit(main())
