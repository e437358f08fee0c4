"""tirsolve: a tool-integrated reasoning math solver service for Qwen2.5-Math."""

__all__ = ["__version__"]

__version__ = "0.1.0"
