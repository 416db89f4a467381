//! The visible texts of the simulator's pages in the two languages it serves: en-US (the
//! default) and de-DE (a drift switch: only a flow's structural locators — ids, names,
//! roles, data attributes, `$Config` — survive it).
//!
//! Ids, names, classes and data attributes never change with the language; only what a
//! person reads does.
use crate::entra::simulator::config::PageLocale;

/// Every text a page shows.
#[derive(Debug)]
pub struct Texts {
    /// `<html lang>`.
    pub lang: &'static str,
    // sign-in
    pub sign_in_title: &'static str,
    pub sign_in_heading: &'static str,
    pub username_placeholder: &'static str,
    pub next: &'static str,
    pub sign_in_button: &'static str,
    pub tap_heading: &'static str,
    pub tap_placeholder: &'static str,
    pub password_heading: &'static str,
    pub password_placeholder: &'static str,
    pub other_ways: &'static str,
    pub cred_picker_heading: &'static str,
    pub use_tap: &'static str,
    pub use_password: &'static str,
    pub back: &'static str,
    pub kmsi_heading: &'static str,
    pub kmsi_description: &'static str,
    pub kmsi_dont_show: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub proof_up_heading: &'static str,
    pub proof_up_description: &'static str,
    pub proof_up_skip: &'static str,
    pub proof_up_days_left: &'static str,
    pub pick_account_heading: &'static str,
    pub interstitial_heading: &'static str,
    pub interstitial_text: &'static str,
    pub continue_: &'static str,
    // Security info (2026 UI)
    pub security_info: &'static str,
    pub security_info_intro: &'static str,
    pub add_method: &'static str,
    pub picker_heading: &'static str,
    pub show_more: &'static str,
    pub cancel: &'static str,
    /// (API type, label, description) of the methods the picker lists, in order; the
    /// ones after `picker_first_page` hide behind "Show more options" when that drift is on.
    pub methods: [(&'static str, &'static str, &'static str); 6],
    pub name_heading: &'static str,
    pub name_hint: &'static str,
    pub name_label: &'static str,
    pub created_heading: &'static str,
    /// `{name}` is replaced.
    pub created_text: &'static str,
    pub done: &'static str,
    pub method_passkey: &'static str,
}

/// English (United States).
pub const EN_US: Texts = Texts {
    lang: "en",
    sign_in_title: "Sign in to your account",
    sign_in_heading: "Sign in",
    username_placeholder: "Email, phone, or Skype",
    next: "Next",
    sign_in_button: "Sign in",
    tap_heading: "Enter Temporary Access Pass",
    tap_placeholder: "Temporary Access Pass",
    password_heading: "Enter password",
    password_placeholder: "Password",
    other_ways: "Other ways to sign in",
    cred_picker_heading: "Sign in another way",
    use_tap: "Use your Temporary Access Pass",
    use_password: "Use your password",
    back: "Back",
    kmsi_heading: "Stay signed in?",
    kmsi_description: "Do this to reduce the number of times you are asked to sign in.",
    kmsi_dont_show: "Don't show this again",
    yes: "Yes",
    no: "No",
    proof_up_heading: "More information required",
    proof_up_description: "Your organization needs more information to keep your account secure",
    proof_up_skip: "Skip for now",
    proof_up_days_left: "14 days until this is required",
    pick_account_heading: "Pick an account",
    interstitial_heading: "Review the updated terms",
    interstitial_text: "Your organization updated the terms for using this account. Review them before you continue.",
    continue_: "Continue",
    security_info: "Security info",
    security_info_intro: "These are the methods you use to sign into your account or reset your password.",
    add_method: "Add sign-in method",
    picker_heading: "Add a sign-in method",
    show_more: "Show more options",
    cancel: "Cancel",
    methods: [
        ("21", "Microsoft Authenticator", "Approve sign-in requests or use one-time codes"),
        ("25", "Passkey in Microsoft Authenticator", "Sign in with your face, fingerprint, or PIN on your phone"),
        ("2", "Phone", "Get a call or text to sign in with a code"),
        ("18", "Passkey", "Use a security key, or a passkey on another device"),
        ("8", "Email", "Get a code to reset your password"),
        ("7", "Hardware token", "Sign in with a code from a hardware token"),
    ],
    name_heading: "Let's name your passkey",
    name_hint: "Give your passkey a name that helps you recognise it.",
    name_label: "Passkey name",
    created_heading: "Passkey created",
    created_text: "You can now use your passkey \u{201c}{name}\u{201d} to sign in.",
    done: "Done",
    method_passkey: "Passkey",
};

/// German (Germany).
pub const DE_DE: Texts = Texts {
    lang: "de",
    sign_in_title: "Bei Ihrem Konto anmelden",
    sign_in_heading: "Anmelden",
    username_placeholder: "E-Mail, Telefon oder Skype",
    next: "Weiter",
    sign_in_button: "Anmelden",
    tap_heading: "Befristeten Zugriffspass eingeben",
    tap_placeholder: "Befristeter Zugriffspass",
    password_heading: "Kennwort eingeben",
    password_placeholder: "Kennwort",
    other_ways: "Andere Anmeldemöglichkeiten",
    cred_picker_heading: "Auf andere Weise anmelden",
    use_tap: "Befristeten Zugriffspass verwenden",
    use_password: "Kennwort verwenden",
    back: "Zurück",
    kmsi_heading: "Angemeldet bleiben?",
    kmsi_description: "So müssen Sie sich seltener anmelden.",
    kmsi_dont_show: "Nicht mehr anzeigen",
    yes: "Ja",
    no: "Nein",
    proof_up_heading: "Weitere Informationen erforderlich",
    proof_up_description: "Ihre Organisation benötigt weitere Informationen zum Schutz Ihres Kontos",
    proof_up_skip: "Vorerst überspringen",
    proof_up_days_left: "Noch 14 Tage, bis dies erforderlich ist",
    pick_account_heading: "Konto auswählen",
    interstitial_heading: "Aktualisierte Nutzungsbedingungen prüfen",
    interstitial_text: "Ihre Organisation hat die Nutzungsbedingungen für dieses Konto aktualisiert.",
    continue_: "Fortsetzen",
    security_info: "Sicherheitsinformationen",
    security_info_intro: "Dies sind die Methoden, mit denen Sie sich bei Ihrem Konto anmelden oder Ihr Kennwort zurücksetzen.",
    add_method: "Anmeldemethode hinzufügen",
    picker_heading: "Anmeldemethode hinzufügen",
    show_more: "Weitere Optionen anzeigen",
    cancel: "Abbrechen",
    methods: [
        ("21", "Microsoft Authenticator", "Anmeldeanforderungen genehmigen oder Einmalcodes verwenden"),
        ("25", "Hauptschlüssel in Microsoft Authenticator", "Mit Gesicht, Fingerabdruck oder PIN auf Ihrem Telefon anmelden"),
        ("2", "Telefon", "Einen Anruf oder eine SMS mit einem Code erhalten"),
        ("18", "Hauptschlüssel", "Einen Sicherheitsschlüssel oder einen Hauptschlüssel auf einem anderen Gerät verwenden"),
        ("8", "E-Mail", "Einen Code zum Zurücksetzen des Kennworts erhalten"),
        ("7", "Hardwaretoken", "Mit einem Code von einem Hardwaretoken anmelden"),
    ],
    name_heading: "Benennen Sie Ihren Hauptschlüssel",
    name_hint: "Geben Sie Ihrem Hauptschlüssel einen Namen, an dem Sie ihn erkennen.",
    name_label: "Name des Hauptschlüssels",
    created_heading: "Hauptschlüssel erstellt",
    created_text: "Sie können sich jetzt mit Ihrem Hauptschlüssel \u{201e}{name}\u{201c} anmelden.",
    done: "Fertig",
    method_passkey: "Hauptschlüssel",
};

/// The texts of a locale.
pub fn texts(locale: PageLocale) -> &'static Texts {
    match locale {
        PageLocale::EnUs => &EN_US,
        PageLocale::DeDe => &DE_DE,
    }
}

/// How many methods the picker shows before "Show more options".
pub const PICKER_FIRST_PAGE: usize = 3;
