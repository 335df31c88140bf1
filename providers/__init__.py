"""Provider drivers: one module per storage backend, behind the contract in ``base``."""

from providers.base import (
    Descriptor,
    Health,
    Login,
    Namespace,
    PluginSpec,
    Provider,
    StorageState,
)
from providers.registry import available, get_provider_class

__all__ = [
    "Descriptor",
    "Health",
    "Login",
    "Namespace",
    "PluginSpec",
    "Provider",
    "StorageState",
    "available",
    "get_provider_class",
]
