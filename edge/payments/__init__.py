"""Wallet payment codes: WeChat Pay micropay and Alipay face-to-face, crash-safe.

``base`` holds the provider interface and its outcomes, ``wechatpay`` and ``alipay`` the two
clients, ``flow`` the state machine that drives one payment to an end, ``records`` the
``payments`` table, ``service`` what the lanes and the daemon call, ``sim`` the simulators.
Importing this package imports nothing heavy: the config module uses it at load time.
"""
