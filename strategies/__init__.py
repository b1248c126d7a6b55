"""Search strategies: one module each, registered by name (see ``strategies.base``)."""

from strategies.base import ConfigError, JaxStrategy, Strategy
from strategies.registry import available_strategies, register, resolve, strategy_class

__all__ = [
    "ConfigError",
    "JaxStrategy",
    "Strategy",
    "available_strategies",
    "register",
    "resolve",
    "strategy_class",
]
