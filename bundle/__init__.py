"""tinyrepro: reproduce the OctoML MLPerf Tiny v1.0 closed-division submission."""
__version__ = "0.1.0"
