"""The reproduction pipeline: one module per stage, in pipeline order.

    request.py   what was asked (immutable): config, system, port/places, engine, options, Sources
    session.py   one reproduce in progress: stage outputs (outputs.py), records (records.py), services
    base.py      a stage: name, image, needs, why_not(request, session), run(request, session)
    chain.py     what the build-chain stages share (root cause first)
    fetch, recompute, images, code, compile, codediff, firmware, flash, stimuli, run, latency,
    diff, estimate, report: the stages
    graph.py     the one list of stages; run (reproduce) and dry_run (plan)
    compose.py   compose/compose.yaml rendered from the same list
"""
