//! Form fields: a labelled input or textarea with its hint and error, tied
//! together for assistive technology, and the alert above a form.

use maud::{Markup, html};

use crate::error::FieldErrors;
use crate::web::forms::KEY_FIELD;
use crate::web::place::Place;

use super::layout::{Header, csrf_field, page};

/// A page that is one form: `title` as its heading, `alert` (see
/// [`form_alert`]), then the form, which posts `fields` to `action` with
/// the CSRF token, and `after` below it.
pub(super) fn form_page(
    title: &str,
    header: Header<'_>,
    alert: Markup,
    action: Place,
    csrf: &str,
    fields: Markup,
    after: Markup,
) -> Markup {
    page(
        title,
        header,
        html! {
            h1 { (title) }
            (alert)
            form.stack method="post" action=(action.href()) {
                (csrf_field(csrf))
                (fields)
            }
            (after)
        },
    )
}

/// The kinds of one-line input.
#[derive(Clone, Copy)]
pub(super) enum Input {
    Text,
    Password,
    Url,
}

/// A form field: its label, name (also its id), value and what to say
/// about it.
pub(super) struct Field<'a> {
    label: &'a str,
    name: &'a str,
    value: &'a str,
    errors: &'a FieldErrors,
    hint: Option<&'a str>,
    max: Option<usize>,
}

impl<'a> Field<'a> {
    pub(super) fn new(
        label: &'a str,
        name: &'a str,
        value: &'a str,
        errors: &'a FieldErrors,
    ) -> Self {
        Self {
            label,
            name,
            value,
            errors,
            hint: None,
            max: None,
        }
    }

    pub(super) fn hint(self, hint: &'a str) -> Self {
        Self {
            hint: Some(hint),
            ..self
        }
    }

    pub(super) fn max(self, max: usize) -> Self {
        Self {
            max: Some(max),
            ..self
        }
    }

    fn invalid(&self) -> bool {
        self.errors.contains(self.name)
    }

    /// `aria-describedby`: the hint and the error, if there are any.
    fn described_by(&self) -> Option<String> {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.invalid() {
            ids.push(format!("{}-error", self.name));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }

    /// The label and hint above the control, and the error below it.
    fn around(&self, control: Markup) -> Markup {
        html! {
            div.field {
                label for=(self.name) { (self.label) }
                @if let Some(hint) = self.hint { p.hint id=(format!("{}-hint", self.name)) { (hint) } }
                (control)
                @if let Some(message) = self.errors.first(self.name) {
                    p.error id=(format!("{}-error", self.name)) { (message) }
                }
            }
        }
    }

    pub(super) fn input(&self, kind: Input, autocomplete: &str, required: bool) -> Markup {
        let kind = match kind {
            Input::Text => "text",
            Input::Password => "password",
            Input::Url => "url",
        };
        self.around(html! {
            input type=(kind) id=(self.name) name=(self.name) value=(self.value)
                autocomplete=(autocomplete) maxlength=[self.max] required[required]
                aria-invalid=[self.invalid().then_some("true")]
                aria-describedby=[self.described_by()];
        })
    }

    pub(super) fn textarea(&self) -> Markup {
        self.around(html! {
            textarea id=(self.name) name=(self.name) maxlength=[self.max] rows="6"
                aria-invalid=[self.invalid().then_some("true")]
                aria-describedby=[self.described_by()] { (self.value) }
        })
    }
}

pub(super) fn form_alert(errors: &FieldErrors, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(problem) = problem {
            p.alert.error role="alert" { (problem) }
        } @else if !errors.is_empty() {
            p.alert.error role="alert" { "Please correct the fields marked below." }
        }
    }
}

pub(super) fn next_field(next: &str) -> Markup {
    html! {
        @if !next.is_empty() { input type="hidden" name="next" value=(next); }
    }
}

/// The hidden idempotency key of a form that creates something, if it has
/// one.
pub(super) fn key_field(key: &str) -> Markup {
    html! {
        @if !key.is_empty() { input type="hidden" name=(KEY_FIELD) value=(key); }
    }
}
