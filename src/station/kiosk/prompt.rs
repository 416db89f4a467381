//! The kiosk's answers to the pipeline's desk questions: the user chooses a PIN (typed
//! twice, never echoed, checked with [`check_user_pin`] before the key sees it), or
//! types the key's current PIN.
use super::input::KioskInput;
use super::view::{KioskDisplay, KioskView};
use crate::ceremony::webauthn::BoxFuture;
use crate::secret::SecretString;
use crate::station::pin::{check_user_pin, PinAlphabet, PinRequirements};
use crate::station::pipeline::{CurrentPinRequest, DeskPrompt, NewPinRequest};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How many times a user may try to choose an acceptable PIN before the job stops.
pub const PIN_ATTEMPTS: usize = 3;

/// Asks at the kiosk.
pub struct KioskPrompt {
    input: Arc<Mutex<Box<dyn KioskInput>>>,
    display: Arc<dyn KioskDisplay>,
}

impl KioskPrompt {
    /// Prompts on `display`, answers from `input`.
    pub fn new(input: Arc<Mutex<Box<dyn KioskInput>>>, display: Arc<dyn KioskDisplay>) -> KioskPrompt {
        KioskPrompt { input, display }
    }

    async fn choose_pin(&self, request: &NewPinRequest) -> Option<SecretString> {
        let rules = describe_rules(&request.requirements);
        let mut problem = request.previous_problem.clone();
        for _ in 0..PIN_ATTEMPTS {
            self.display.show(&KioskView::ChoosePin { user: request.user.clone(), rules: rules.clone(), problem: problem.take() });
            let mut input = self.input.lock().await;
            let first = input.secret("Choose a PIN").await?;
            if let Err(rejection) = check_user_pin(&first, &request.requirements) {
                problem = Some(rejection.to_string());
                continue;
            }
            let again = input.secret("Type the same PIN again").await?;
            if again != first {
                problem = Some("The two PINs were not the same. Type your new PIN again.".into());
                continue;
            }
            return Some(first);
        }
        None
    }
}

impl DeskPrompt for KioskPrompt {
    fn new_pin<'a>(&'a self, request: &'a NewPinRequest) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(self.choose_pin(request))
    }

    fn current_pin<'a>(&'a self, request: &'a CurrentPinRequest) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            self.display.show(&KioskView::CurrentPin { user: request.user.clone(), reason: request.reason.clone(), retries_left: request.retries_left });
            self.input.lock().await.secret("The key's current PIN").await
        })
    }
}

/// The PIN rules in words, for the user.
pub fn describe_rules(req: &PinRequirements) -> String {
    let chars = match req.alphabet {
        PinAlphabet::Digits => "digits only (0-9)",
        PinAlphabet::Alphanumeric => "letters, digits and punctuation (no spaces or accents)",
    };
    format!(
        "at least {} characters ({}), {chars}, no repeats, sequences or dates; you will type it twice and it is not shown",
        req.min_length,
        req.min_length_source.explain()
    )
}
