"""edgeml: from a Keras model to a microcontroller or a Raspberry Pi, with measured numbers.

Importing this package is instant: TensorFlow, scikit-learn and matplotlib are imported only
inside the functions that need them (see ``edgeml.tf_setup``).
"""

__version__ = "0.1.0"
