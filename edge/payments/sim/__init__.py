"""Simulators of the WeChat Pay and Alipay servers: real HTTP, the real protocols, scriptable.

The demo and the tests pay against these; they verify our signatures, sign their answers,
and keep their own order table so duplicates, reversals and refunds behave as a provider's do.
"""
