"""The LLM layer: one client for every provider, with cache, retries, limits and accounting."""

from .accounting import Accounting
from .batch import BatchOptions
from .cache import ResponseCache
from .client import LLM, opened
from .errors import BudgetExceeded, CacheError, ConfigError, LLMError, RequestFailed
from .models import parse_model
from .types import ChatReply, ChatRequest

__all__ = ["LLM", "opened", "BatchOptions", "ChatRequest", "ChatReply", "ResponseCache", "Accounting", "RequestFailed", "BudgetExceeded",
           "CacheError", "ConfigError", "LLMError", "parse_model"]
