"""What every part of the spec shares: its errors (`Issue`, `SpecError`) and how pydantic's errors are worded as
one-line problems, the strict field types, the read-only `FrozenDict`, and the base classes of its sections."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema
from typing_extensions import Annotated

# ---- errors ------------------------------------------------------------------------------------------------
Loc = tuple  # ("network", "layers", 1, "units")


@dataclass(frozen=True)
class Issue:
    """One problem of a spec: where (`loc`, as in the JSON document) and what (`message`)."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        """The JSON path: 'network.layers[1].units'."""
        return _dotted(self.loc)

    @property
    def layer(self) -> int | None:
        """The hidden layer's index (0 = the row labelled h1) when the problem is in one, else None."""
        if len(self.loc) >= 3 and self.loc[:2] == ("network", "layers") and isinstance(self.loc[2], int):
            return self.loc[2]
        return None

    @property
    def field(self) -> str | None:
        """The field's name inside its section or layer ('units'), or None for a whole section."""
        rest = self.loc[3:] if self.layer is not None else self.loc[1:]
        return str(rest[0]) if rest else None

    def __str__(self) -> str:
        if self.layer is None:
            where = self.path
        else:  # the row as the builder labels it, then the JSON path
            where = f"h{self.layer + 1} ({_dotted(self.loc[:3])})" + _dotted(self.loc[3:], leading=True)
        return f"{where}: {self.message}" if where else self.message


class SpecError(ValueError):
    """A spec with one or more problems: `problems` (one-line texts) and `issues` (the same with locations)."""

    def __init__(self, problems: list[str] | None = None, source: str | None = None,
                 issues: list[Issue] | None = None):
        self.issues = list(issues) if issues is not None else [Issue((), p) for p in problems or []]
        self.problems = [str(i) for i in self.issues] if issues is not None else list(problems or [])
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = where + self.problems[0]
        else:
            text = where + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)


def _dotted(loc: Loc, leading: bool = False) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if str(part).isidentifier() else repr(part)  # a key with a newline must not break the line
            text += f".{shown}" if text or leading else shown
    return text


def problem(message: str) -> PydanticCustomError:
    """A validation error whose text is used as written (the context carries it so braces are not formatted)."""
    return PydanticCustomError("spec", "{message}", {"message": message})


def fail(errors: list[tuple[Loc, str, Any]], title: str) -> None:
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=problem(message), loc=loc, input=value) for loc, message, value in errors])


# ---- field types -------------------------------------------------------------------------------------------
Int = Annotated[int, Field(strict=True)]  # strict: no "7", no true, no 7.0
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # strict: no "0.1", no true; ints are fine
Bool = Annotated[bool, Field(strict=True)]
Str = Annotated[str, Field(strict=True)]
Seed = Annotated[Int, Field(ge=0, le=2**32 - 1)]


def choice(options) -> Any:
    return Literal.__getitem__(tuple(options))


class FrozenDict(dict):
    """A read-only dict (nested lists become tuples): the free-form parts of a spec (dataset options, optimizer
    hyperparameters, diagnostic thresholds) are as immutable as the rest of it. Compares equal to a plain dict."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a spec is immutable: change it with vg_studio.edits or spec.model_copy(update=...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore

    def __reduce__(self):  # pickling and deepcopy rebuild it in one call instead of item by item
        return FrozenDict, (dict(self),)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))

    @classmethod
    def of(cls, value: dict) -> "FrozenDict":
        return cls({k: _freeze(v) for k, v in value.items()})

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler):
        return core_schema.no_info_after_validator_function(
            cls.of, core_schema.dict_schema(core_schema.str_schema(strict=True), core_schema.any_schema(), strict=True),
            serialization=core_schema.plain_serializer_function_ser_schema(_thaw))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict.of(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


class Options(BaseModel):
    """A free-form part of a spec (a dataset's options, an optimizer's hyperparameters), typed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_against(model: type[Options], value: dict, what: str) -> dict:
    """Validate a free-form dict with `model`, re-raising its errors in the spec's wording."""
    try:
        model.model_validate(dict(value))
    except ValidationError as exc:
        fields = list(model.model_fields)
        fail([(err["loc"], _message(err, model, unknown=f"not {what}" + (
            f" (expected one of {', '.join(fields)})" if fields else " (it takes none)")), err.get("input"))
               for err in exc.errors()], model.__name__)
    return value


def schema_of(models: dict[str, type[Options]], by: str) -> dict:
    """A JSON Schema 'anyOf' with one alternative per option model (named after what selects it)."""
    return {"anyOf": [{**model.model_json_schema(), "title": f"{by} {key}"} for key, model in models.items()]}


# ---- sections ----------------------------------------------------------------------------------------------
class _RaisesSpecError(type(BaseModel)):
    """Construction (`LayerSpec(units=0)`) raises SpecError like reading a file does. Done in the metaclass because
    a custom __init__ would also run, and wrap errors, inside the validation of every enclosing spec."""

    def __call__(cls, *args: Any, **kwargs: Any):
        if args:  # positional fields in declaration order
            if len(args) > len(cls.model_fields):
                raise TypeError(f"{cls.__name__} takes at most {len(cls.model_fields)} positional arguments")
            kwargs = {**dict(zip(cls.model_fields, args)), **kwargs}
        try:
            return super().__call__(**kwargs)
        except ValidationError as exc:
            raise SpecError(issues=issues_of(exc, cls)) from None


class Section(BaseModel, metaclass=_RaisesSpecError):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field_noun: ClassVar[str] = "field"  # what an unknown key is called in a problem ("unknown threshold")



# ---- pydantic's errors in the spec's words -----------------------------------------------------------------
# Where each section sits in a spec document (a layer: ("network", "layers", int)); the sections register here.
SECTIONS: dict[Loc, type[BaseModel]] = {}

_NOUNS = {"kind": "layer kind", "name": "optimizer", "output_activation": "activation",
          "output_initializer": "initializer"}


def issues_of(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    """Locations are relative to `root` (a section built by keyword gives 'units', a whole spec the full path)."""
    section = next((loc for loc, model in SECTIONS.items() if model is root), ())
    return [Issue(tuple(err["loc"]), _message(err, _owner(section + tuple(err["loc"])[:-1])))
            for err in exc.errors(include_url=False)]


def _owner(loc: Loc) -> type[BaseModel] | None:
    key = tuple(int if isinstance(part, int) else part for part in loc)
    return SECTIONS.get(key)


def _message(err: dict, model: type[BaseModel] | None, unknown: str | None = None) -> str:
    kind, value = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    name = err["loc"][-1] if err["loc"] else ""
    if kind == "spec":
        return ctx["message"]
    if kind == "extra_forbidden":
        fields = list(model.model_fields) if model is not None else []
        noun = getattr(model, "field_noun", "field")
        close = difflib.get_close_matches(str(name), fields, n=1) if noun != "field" else []
        if close:  # a misspelled threshold: the one meant, instead of a list of forty
            return f"unknown {noun} (did you mean {close[0]}?)"
        return unknown or f"unknown {noun}" + (f" (expected one of {', '.join(fields)})" if fields else "")
    if kind == "literal_error":
        choices = re.findall(r"'((?:[^'\\]|\\.)*)'", ctx.get("expected", ""))
        noun = _NOUNS.get(name, str(name).replace("_", " "))
        return f"unknown {noun} {value!r}; expected one of {', '.join(choices)}"
    if value is None and kind.endswith("_type"):
        return "must not be null"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {type_name(value)}"
    if kind in ("float_type", "float_parsing"):
        if isinstance(value, int) and not isinstance(value, bool):
            return "must be a finite number"
        return f"must be a number, got {type_name(value)}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "string_unicode":
        return "must be printable text"
    if kind == "string_type":
        return f"must be a string, got {type_name(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be an object, got {type_name(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, got {type_name(value)}"
    if kind in ("too_short", "too_long"):
        return f"must be a list of {ctx.get('min_length', ctx.get('max_length'))}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _range_text(name, kind, ctx)
    text = err["msg"]
    return text[0].lower() + text[1:] if text else kind


def _range_text(name: Any, kind: str, ctx: dict) -> str:
    """'must be >= 1': the bound that failed, and the limit's name when the bound is one of vg_studio.limits."""
    op, bound = {"greater_than_equal": (">=", ctx.get("ge")), "greater_than": (">", ctx.get("gt")),
                 "less_than_equal": ("<=", ctx.get("le")), "less_than": ("<", ctx.get("lt"))}[kind]
    limit = _LIMITED.get(name) if op in ("<=", "<") else None
    return f"must be {op} {_number(bound)}" + (f" (the limit {limit}; VG_STUDIO_LIMITS raises it)" if limit else "")


_LIMITED = {"units": "units", "attention_tokens": "units"}


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot be written to spec.json or a folder name
        return True
    return False
