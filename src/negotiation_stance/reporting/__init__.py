"""What the README shows from finished runs: its figures (``make figures``) and executed notebooks (``make notebooks``).

It only reads run folders and the data card; nothing here trains or scores.
"""
