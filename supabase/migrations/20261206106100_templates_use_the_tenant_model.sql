-- Agent templates no longer name a model. Each carried "model": "gpt-4o-mini", which
-- api.deploy_agent_template copies into the new agent, and an agent's own model wins over
-- the tenant's default: a tenant that set its own endpoint and model (in the onboarding
-- wizard or on the Settings page, where the check had just proved that model answers) had its
-- template agents ask that endpoint for gpt-4o-mini instead, which an Ollama or vLLM server
-- does not serve. Without a model of their own, new agents from a template use the tenant's
-- model, else the platform's (whose default is still gpt-4o-mini). Agents already deployed
-- keep what they were given; their owners change it in the agent designer.
update app.agent_templates set model_settings = model_settings - 'model' where model_settings ? 'model';
