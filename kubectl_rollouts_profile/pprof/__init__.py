"""(package docstring written by its owner)"""
