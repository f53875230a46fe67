"""The Gherkin step library, loaded as a pytest plugin (entry point ``harness``).

Each step is a one-line delegation into :class:`harness.drill.Drill`; the phrasings are a
public interface: add synonyms, never rename.
"""
