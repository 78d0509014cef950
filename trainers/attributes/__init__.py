"""The attribute pipeline: from a dataset's class names to ``attributes_cache/<dataset>.json``.

Two steps, as in SemPT: (1) an LLM names the visual attributes all classes share; (2) it describes every
class under every attribute, several classes per request. Run it with ``python -m trainers.attributes``:

- ``generate``: through the ``openai`` client against OpenAI or any compatible server (vLLM, Ollama,
  llama.cpp); resumable, with retries, repair of malformed answers and a progress bar;
- ``export`` / ``import``: the same prompts as files, answered by hand with any chat assistant;
- ``validate``: structural and quality checks of the files in ``attributes_cache/``.

Modules: ``prompts`` (prompt texts and version), ``answers`` (strict parsing and checking of answers),
``llm`` (client calls, retries, errors), ``store`` (progress and final files), ``quality`` (checks),
``pipeline`` (generate), ``exchange`` (export/import), ``__main__`` (command line).
"""
