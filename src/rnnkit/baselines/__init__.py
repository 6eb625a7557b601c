"""The models the notes compare recurrent networks against, trained on the same data and splits:
bag-of-words and TF-IDF text classifiers, n-gram and hidden-Markov language models, a fixed-window
feed-forward model. (The forecasting baselines live with the forecasters, in ``rnnkit.forecasting``.)
"""
