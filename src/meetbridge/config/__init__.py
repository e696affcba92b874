"""Configuration: the profiles file, the adapter catalogue (data, one TOML file per adapter), secrets
named by environment references, sealing of stored credentials, and a profile's incarnation."""

from meetbridge.config.catalogue import AdapterSpec, Catalogue, load_catalogue
from meetbridge.config.incarnation import incarnation
from meetbridge.config.live import LiveConfig, live
from meetbridge.config.options import AdapterOptions
from meetbridge.config.profiles import GatewayConfig, Profile, ServerConfig, load_config, parse_config
from meetbridge.config.sealing import SealError
from meetbridge.config.secrets import Secret

__all__ = [
    "AdapterOptions",
    "AdapterSpec",
    "Catalogue",
    "GatewayConfig",
    "LiveConfig",
    "Profile",
    "SealError",
    "Secret",
    "ServerConfig",
    "incarnation",
    "live",
    "load_catalogue",
    "load_config",
    "parse_config",
]
