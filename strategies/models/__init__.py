"""The models strategies share: Gaussian processes (``gp``), MLP and GNN ensembles
(``predictors``), the NAO encoder-predictor-decoder (``seq2seq``), action spaces for tree
search (``actions``) and LaNAS's learned partition of a space (``partition``). Nothing here is a
strategy; ``strategies/`` holds only those."""
