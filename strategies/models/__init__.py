"""The models strategies share: Gaussian processes (``gp``), MLP and GNN ensembles
(``predictors``), the NAO encoder-predictor-decoder (``seq2seq``) and action spaces for tree
search (``actions``). Nothing here is a strategy; ``strategies/`` holds only those."""
