import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class TiergateApi implements ICredentialType {
	name = 'tiergateApi';

	displayName = 'Tiergate API';

	icon: Icon = { light: 'file:../icons/tiergate.svg', dark: 'file:../icons/tiergate.dark.svg' };

	documentationUrl = 'https://github.com/tiergate-dev/tiergate/tree/main/n8n-nodes#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://localhost:8080',
			placeholder: 'e.g. http://tiergate.lan:8080',
			description: 'Where your Tiergate service listens, without a trailing /v1',
			required: true,
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'A key from "tiergate keys create --name n8n --scopes route,classify,fallback,review"',
			required: true,
		},
		{
			displayName: 'Callback Secret',
			name: 'callbackSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'Optional: Tiergate\'s TIERGATE_CALLBACK_SECRET. When set, "Run and Wait for Review" accepts a decision only with a valid X-Tiergate-Signature.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'X-API-Key': '={{$credentials.apiKey}}',
			},
		},
	};

	// A rules-mode route decision checks the URL and the key without calling any model, so
	// testing the credential costs nothing.
	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			url: '/v1/route',
			method: 'POST',
			body: { text: 'Tiergate credential test', mode: 'rules' },
			json: true,
		},
	};
}
