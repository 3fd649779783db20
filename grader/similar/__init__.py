"""`grade similar EXERCISE RESULTS`: the similarity screen over a graded class.

code.py (fingerprints of the graded functions), behaviour.py (shared rare wrong values),
outputs.py (the values' fingerprints, kept while a batch grades), sources.py (the code a batch
keeps), page.py (the HTML page), cli.py (the verb).
"""

from grader.similar.cli import main, screen

__all__ = ["main", "screen"]
