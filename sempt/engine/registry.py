"""Name -> class registries, as in Dassl, with a "did you mean" on unknown names."""
import difflib

__all__ = ["Registry", "check_availability"]


def check_availability(requested, available):
    """Raise a ``ValueError`` naming the closest available entry when ``requested`` is unknown."""
    if requested in available:
        return
    close = difflib.get_close_matches(requested, list(available), n=1, cutoff=0.0)
    hint = f" (did you mean [{close[0]}]?)" if close else ""
    raise ValueError(
        f"The requested one is expected to belong to {sorted(available)}, "
        f"but got [{requested}]{hint}"
    )


class Registry:
    """Maps a name to a class or function; ``@REG.register()`` uses the object's ``__name__``."""

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(f'An object named "{name}" was already registered in "{self._name}" registry')
        self._obj_map[name] = obj

    def register(self, obj=None, force=False):
        if obj is None:
            def wrapper(fn_or_class):
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class
            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        if name not in self._obj_map:
            check_availability(name, self._obj_map.keys())
        return self._obj_map[name]

    def build(self, name, *args, verbose=False, **kwargs):
        """Construct the object registered as ``name`` (Dassl's build_trainer/build_dataset, in one place)."""
        obj = self.get(name)
        if verbose:
            print(f"Loading {self._name.lower()}: {name}")
        return obj(*args, **kwargs)

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map
