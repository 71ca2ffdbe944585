"""Boards on other hosts, through labgrid (https://labgrid.readthedocs.io).

places.py   which published build a place can run (its tags) and the work queue that
            spreads the benchmarks over the acquired places (pure data, no labgrid)
coordinator.py  the labgrid client: list, acquire and release places; a place's
            network serial port as a pyserial `rfc2217://` URL
run.py      the run stage on places, in parallel, one worker per place
"""
