"""recsys_neg: collaborative filtering with the negative sampler as a first-class part."""
__version__ = "0.1.0"
