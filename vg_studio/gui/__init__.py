"""The desktop application. The only package that imports PySide6 / pyqtgraph; Keras is imported lazily."""
