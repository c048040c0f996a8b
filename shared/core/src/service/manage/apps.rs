//! Apps: create, show, rotate the app secret games embed.

use chrono::Utc;

use super::{AppView, CreateApp, Manage, ManageError};
use crate::model::App;
use crate::validation::{check_id, check_text};

impl Manage {
    /// # Errors
    /// Invalid fields, or the id is taken.
    pub async fn create_app(&self, req: CreateApp) -> Result<AppView, ManageError> {
        check_id("id", &req.id)?;
        check_text("name", &req.name)?;
        check_text("display_name", &req.display_name)?;
        let app = App::new(req.id, req.name, req.display_name, Utc::now());
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
