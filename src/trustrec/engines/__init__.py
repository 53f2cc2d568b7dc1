"""Execution engines beyond one process: Spark MLlib training and distributed evaluation.

Every engine reads data with the same rules as :mod:`trustrec.data` and writes the standard
trustrec artifact, so loading, recommending, auditing and serving do not know which engine
trained a model. Engines are optional extras (``pip install trustrec[scale]``), imported
lazily.
"""
