"""The models strategies share: Gaussian processes (``gp``), MLP and GNN ensembles
(``predictors``), the NAO encoder-predictor-decoder (``seq2seq``), action spaces for tree
search (``actions``), LaNAS's learned partition of a space (``partition``) and the use of zero-cost
proxies inside a search (``proxy``). Nothing here is a
strategy; ``strategies/`` holds only those."""
