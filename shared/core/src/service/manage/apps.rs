//! Apps: create, show, rotate the app secret games embed.

use chrono::Utc;

use super::{AppView, CreateApp, Manage, ManageError};
use crate::model::App;
use crate::ports::StoreError;
use crate::secret::Secret;
use crate::validation::FieldError;
use crate::validation::{check_id, check_text};

/// Bounds of an app secret brought from elsewhere: what travels in a query string unchanged.
pub const MIN_APP_SECRET_LEN: usize = 16;
pub const MAX_APP_SECRET_LEN: usize = 128;

fn check_app_secret(secret: &str) -> Result<(), FieldError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !(MIN_APP_SECRET_LEN..=MAX_APP_SECRET_LEN).contains(&secret.len()) || !secret.chars().all(ok_char) {
        return Err(FieldError::new(
            "app_secret",
            format!("must be {MIN_APP_SECRET_LEN} to {MAX_APP_SECRET_LEN} of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(())
}

impl Manage {
    /// # Errors
    /// Invalid fields, or the id is taken.
    pub async fn create_app(&self, req: CreateApp) -> Result<AppView, ManageError> {
        check_id("id", &req.id)?;
        check_text("name", &req.name)?;
        check_text("display_name", &req.display_name)?;
        let mut app = App::new(req.id, req.name, req.display_name, Utc::now());
        if let Some(secret) = req.app_secret {
            check_app_secret(&secret)?;
            // Games find their app by this secret alone: it must be no other app's.
            if self.store.app_for_secret(&secret).await?.is_some() {
                return Err(ManageError::Store(StoreError::AlreadyExists("app_secret".into())));
            }
            app.app_secret = Secret::new(secret);
        }
        self.store.create_app(&app).await?;
        tracing::info!(app_id = %app.id, "app created");
        Ok(AppView::from(&app))
    }

    /// # Errors
    /// Unknown app.
    pub async fn get_app(&self, id: &str) -> Result<AppView, ManageError> {
        Ok(AppView::from(&self.app(id).await?))
    }

    /// # Errors
    /// Unknown app.
    pub async fn rotate_app_secret(&self, id: &str) -> Result<AppView, ManageError> {
        let mut app = self.app(id).await?;
        app.app_secret = App::generate_secret();
        self.store.update_app(&app).await?;
        // After the store has the new secret, so that no lookup re-learns the old one.
        self.app_secrets.forget_app(&app.id);
        tracing::info!(app_id = %app.id, "app secret rotated");
        Ok(AppView::from(&app))
    }

    pub(super) async fn app(&self, id: &str) -> Result<App, ManageError> {
        self.store.get_app(id).await?.ok_or_else(|| ManageError::NotFound(format!("app {id}")))
    }
}
