"""WVSData: the respondents read from a WVS file (or generated), and their human table."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError
from .distributions import NEGATIVE_CODES, human_distributions
from .items import ItemBank


@dataclass
class WVSData:
    """Respondents read from a WVS file (or generated): one row per respondent.

    Made by :func:`~wvsalign.survey.read_wvs`; :meth:`distributions` gives the human table.

    Parameters
    ----------
    respondents : pandas.DataFrame
        Columns ``country`` (ISO3), ``weight`` (float) and one nullable integer column per
        item of ``bank`` (raw WVS codes; negative codes are missing unless kept), plus any
        extra columns; its index is the respondent's row number in the file.
    bank : ItemBank
        The items read.
    source : str, default ""
        The file read, put in messages.
    synthetic : bool, default False
        Whether the file says it holds synthetic data.
    keep_missing : tuple of int, default ()
        The negative codes kept as answers.
    weight_column : str, optional
        The file's weight column (None: equal weights).
    country_column : str, default ""
        The file's country column.
    requested_countries : tuple of str, optional
        The countries asked for (None: all).
    strict : bool, default False
        Whether a requested country x item without an answer is an error.
    missing_counts : pandas.DataFrame
        Counts of each negative code per country x item (country, item_id, code, count).

    Examples
    --------
    >>> import wvsalign as wa
    >>> bank = wa.ItemBank.wvs7().filter(ids=["Q46"])
    >>> frame = wa.survey.synthetic_respondents(bank, ["USA", "JPN"], n_per_country=50)
    >>> data = wa.read_wvs(frame, items=bank)
    >>> data.countries, data.synthetic
    (['JPN', 'USA'], True)
    """

    respondents: pd.DataFrame
    bank: ItemBank
    source: str = ""
    synthetic: bool = False
    keep_missing: tuple[int, ...] = ()
    weight_column: str | None = None
    country_column: str = ""
    requested_countries: tuple[str, ...] | None = None
    strict: bool = False
    missing_counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def countries(self) -> list[str]:
        """ISO3 codes of the countries present, sorted."""
        return sorted(self.respondents["country"].unique().tolist())

    def distributions(self, bank: ItemBank | None = None, *, min_n: int = 30, weighted: bool = True,
                      hard_to_say: str = "drop") -> pd.DataFrame:
        """The ``human`` table of these respondents (see :func:`~wvsalign.survey.human_distributions`).

        Parameters
        ----------
        bank : ItemBank, optional
            Items to tabulate (default: the bank read).
        min_n : int, default 30
            Country x item cells with fewer valid answers are left out (with a DataWarning).
        weighted : bool, default True
            Use the weight column (when the file had one).
        hard_to_say : {"drop", "midpoint"}, default "drop"
            How an item's "Hard to say" extra code counts (see :func:`~wvsalign.survey.human_distributions`).

        Returns
        -------
        pandas.DataFrame
            The human table (country, item_id, category, code, share, n, n_eff);
            ``attrs["synthetic"]`` says whether the data are synthetic.

        Raises
        ------
        InputError
            When an item of ``bank`` was not read, or (strict) a requested country has no answer
            to a requested item.
        """
        bank = self.bank if bank is None else bank
        absent = [it.item_id for it in bank if it.item_id not in self.respondents.columns]
        if absent:
            raise InputError(f"item(s) {absent[:8]} were not read from the file; expected items of the bank read", file=self.source)
        if self.strict and self.requested_countries:
            self._check_requested(bank)
        human = human_distributions(
            self.respondents,
            bank,
            min_n=min_n,
            weighted=weighted and self.weight_column is not None,
            keep_missing=self.keep_missing,
            hard_to_say=hard_to_say,
            source=self.source,
            stacklevel=3,  # warnings point at the caller of this method
        )
        human.attrs["synthetic"] = bool(self.synthetic)
        human.attrs["weight_column"] = self.weight_column or ""
        return human

    def _check_requested(self, bank: ItemBank) -> None:
        present = self.respondents.groupby("country", sort=False)[[it.item_id for it in bank]].count()
        for country in self.requested_countries or ():
            for item in bank:
                if present.loc[country, item.item_id] > 0:
                    continue
                counts = self.missing_counts
                sel = counts[(counts["country"] == country) & (counts["item_id"] == item.item_id)] if len(counts) else counts
                detail = ", ".join(f"{int(r.code)} {NEGATIVE_CODES[int(r.code)].lower()} {int(r.count)}" for r in sel.itertuples())
                raise InputError(
                    f"country {country} has no valid answer to item {item.item_id} ({detail or 'all missing'}); "
                    "expected at least one answer for a country and item asked for explicitly "
                    "(read with strict=False, or leave the countries or the items unspecified, "
                    "to drop such cells with a warning)",
                    file=self.source,
                    column=item.item_id,
                )
