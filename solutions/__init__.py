"""Solutions of the notebooks' self-check exercises (``helpers.exercises``), one module per
notebook: ``solutions.s03.ex_03_2()`` returns the answer of exercise 03.2 — a number, a letter,
a list of titles, or the function an exercise asks for. ``tests/test_exercises.py`` checks every
one against its exercise. For teachers; a course that hands out the notebooks can leave this
folder out.
"""
