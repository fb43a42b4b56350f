"""Model backends: Ollama (default), OpenAI-compatible servers, embedded llama.cpp."""
