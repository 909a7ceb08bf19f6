"""A deterministic mock of Jiading district's (嘉定区, Shanghai) charging data and the three
other departments' feeds it is aligned with: charging operators serving the 互联互通
protocol (T/CEC 102) over HTTP, the city's station register, traffic detectors, car parks
and the grid's distribution transformers, with an answer key telling the truth.

A world is a pure function of its spec: `world.generate(folder, spec)` writes it, and
`server.OperatorServer` serves one operator's part of it. Nothing here imports the pipeline.
"""
