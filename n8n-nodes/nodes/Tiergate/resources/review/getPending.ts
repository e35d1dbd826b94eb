import type { INodeProperties } from 'n8n-workflow';
import { OMIT_IF_EMPTY } from '../../shared/descriptions';

const showOnlyForGetPending = {
	resource: ['review'],
	operation: ['getPending'],
};

export const reviewGetPendingDescription: INodeProperties[] = [
	{
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add Filter',
		default: {},
		displayOptions: { show: showOnlyForGetPending },
		options: [
			{
				displayName: 'Search',
				name: 'search',
				type: 'string',
				default: '',
				placeholder: 'e.g. Acme GmbH',
				description: 'Only reviews whose text, draft or metadata (customer, workflow) contains this',
				routing: { send: { type: 'query', property: 'q', value: OMIT_IF_EMPTY } },
			},
			{
				displayName: 'Task Type',
				name: 'taskType',
				type: 'string',
				default: '',
				description: 'Only reviews of this task type',
				routing: { send: { type: 'query', property: 'task_type', value: OMIT_IF_EMPTY } },
			},
		],
	},
];
